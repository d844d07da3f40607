package dev.headroom.examples.shop;

import static org.assertj.core.api.Assertions.assertThat;

import dev.headroom.testing.HeadroomServices;
import dev.headroom.testing.TestDatabase;
import dev.headroom.testing.TestRedis;
import dev.headroom.testing.TestReplica;
import java.io.File;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.openqa.selenium.By;
import org.openqa.selenium.OutputType;
import org.openqa.selenium.TakesScreenshot;
import org.openqa.selenium.WebDriver;
import org.openqa.selenium.chrome.ChromeDriver;
import org.openqa.selenium.chrome.ChromeDriverService;
import org.openqa.selenium.chrome.ChromeOptions;
import org.openqa.selenium.support.ui.WebDriverWait;

/**
 * The dashboard in a real headless Chromium (Debian's {@code chromium} and {@code chromium-driver},
 * no download): the shop runs against the real services under traffic that includes recommendation
 * fallbacks and SHEDDABLE callers shed by a held bulkhead, and the page must draw non-zero charts
 * and totals for them. Leaves a screenshot in {@code target/dashboard.png}.
 */
@ExtendWith(HeadroomServices.class)
class DashboardBrowserIT {

    private static final Path CHROMIUM = Path.of("/usr/bin/chromium");
    private static final Path CHROMEDRIVER = Path.of("/usr/bin/chromedriver");
    /** Polls the page must have made; {@code -Ddashboard.polls=40} draws longer lines (docs/dashboard.png). */
    private static final int POLLS = Integer.getInteger("dashboard.polls", 4);

    private static final HttpClient HTTP =
            HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();

    @Test
    void theDashboardDrawsTrafficFallbacksAndShedsInARealBrowser(
            TestDatabase database, TestReplica replica, TestRedis redis) throws Exception {
        assertThat(Files.isExecutable(CHROMIUM) && Files.isExecutable(CHROMEDRIVER))
                .as(
                        "this test drives Debian's headless Chromium: install it with"
                                + " `apt-get install -y chromium chromium-driver` (needs %s and %s)",
                        CHROMIUM, CHROMEDRIVER)
                .isTrue();
        List<ShopConfig.Shard> shards = TestShards.create(database, replica, 2);
        Path profile = Files.createTempDirectory("shop-chromium-");
        CountDownLatch release = new CountDownLatch(1);
        AtomicBoolean stop = new AtomicBoolean();
        try (ShopApp app = ShopApp.start(ShopConfig.of(shards, redis.uri(), redis.keyPrefix() + "shop:")
                .withPort(0)
                .withPoolSize(3)
                .withRateLimits(100_000, 100_000)
                .withConfirmationFailureRate(0))) {
            // half the bulkhead stuck: every SHEDDABLE caller is shed; a third of live calls fail
            app.recommendationService().holdNext(Recommendations.MAX_CONCURRENT_CALLS / 2, release);
            app.recommendationService().setFailureFraction(0.3);
            String base = "http://127.0.0.1:" + app.port();
            for (int i = 0; i < Recommendations.MAX_CONCURRENT_CALLS / 2; i++) {
                HTTP.sendAsync(
                        request(base, "/products/1/recommendations").build(), HttpResponse.BodyHandlers.discarding());
            }
            Thread traffic = new Thread(() -> traffic(base, stop), "dashboard-traffic");
            traffic.start();

            ChromeDriverService service = new ChromeDriverService.Builder()
                    .usingDriverExecutable(CHROMEDRIVER.toFile())
                    .usingAnyFreePort()
                    .build();
            ChromeOptions options = new ChromeOptions()
                    .setBinary(CHROMIUM.toFile())
                    .addArguments(
                            "--headless",
                            "--no-sandbox",
                            "--disable-gpu",
                            "--disable-quic",
                            "--no-first-run",
                            "--disable-background-networking",
                            "--disable-component-update",
                            "--disable-sync",
                            "--window-size=1400,1150",
                            "--user-data-dir=" + profile);
            WebDriver driver = new ChromeDriver(service, options);
            try {
                driver.get(base + "/dashboard");
                new WebDriverWait(driver, Duration.ofSeconds(90 + 2L * POLLS))
                        .pollingEvery(Duration.ofMillis(250))
                        .withMessage(() -> "the dashboard never showed non-zero traffic, fallbacks and sheds: "
                                + driver.findElement(By.id("totals")).getText())
                        .until(d -> number(d, "body", "data-polls") >= POLLS
                                && number(d, "#t-requests", "data-value") > 0
                                && number(d, "#t-live", "data-value") > 0
                                && number(d, "#t-fallbacks", "data-value") > 0
                                && number(d, "#t-shed", "data-value") > 0
                                && number(d, "#c-loads", "data-peak") > 0
                                && number(d, "#c-recommendations", "data-peak") > 0
                                && number(d, "#c-guard", "data-peak") > 0);
                assertThat(driver.findElement(By.id("l-guard")).getText()).contains("shed/sheddable");
                assertThat(driver.findElement(By.id("l-recommendations")).getText())
                        .contains("live")
                        .contains("fallback: shed");
                File shot = ((TakesScreenshot) driver).getScreenshotAs(OutputType.FILE);
                Path target = Path.of("target", "dashboard.png");
                Files.createDirectories(target.getParent());
                Files.copy(shot.toPath(), target, StandardCopyOption.REPLACE_EXISTING);
                assertThat(Files.size(target)).isPositive();
            } finally {
                driver.quit();
                stop.set(true);
                release.countDown();
                traffic.join();
            }
        } finally {
            release.countDown();
            deleteTree(profile);
        }
    }

    /** Product reads, lists, and recommendations of every criticality until told to stop. */
    private static void traffic(String base, AtomicBoolean stop) {
        String[] criticalities = {"critical", "default", "sheddable"};
        int i = 0;
        while (!stop.get()) {
            try {
                send(request(base, "/products/" + (1 + i % 20)));
                send(request(base, "/products"));
                send(request(base, "/products/" + (1 + i % 50) + "/recommendations")
                        .header("X-Criticality", criticalities[i % 3]));
                send(HttpRequest.newBuilder(URI.create(base + "/products/2/recommendations"))
                        .timeout(Duration.ofSeconds(30))); // anonymous: SHEDDABLE
            } catch (IOException e) {
                return; // the shop is closing
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            }
            i++;
        }
    }

    private static HttpRequest.Builder request(String base, String path) {
        return HttpRequest.newBuilder(URI.create(base + path))
                .timeout(Duration.ofSeconds(30))
                .header("Api-Key", "demo-checkout");
    }

    private static void send(HttpRequest.Builder request) throws IOException, InterruptedException {
        HTTP.send(request.build(), HttpResponse.BodyHandlers.discarding());
    }

    private static double number(WebDriver driver, String css, String attribute) {
        String value = driver.findElement(By.cssSelector(css)).getAttribute(attribute);
        try {
            return value == null ? 0 : Double.parseDouble(value);
        } catch (NumberFormatException e) {
            return 0;
        }
    }

    private static void deleteTree(Path root) throws IOException {
        try (Stream<Path> paths = Files.walk(root)) {
            for (Path p : paths.sorted(Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(p);
            }
        } catch (IOException e) {
            // Chromium may still be writing its profile as it exits; the temp dir is the OS's to clear
        }
    }
}
