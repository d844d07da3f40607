package dev.headroom.examples.shop;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

class AdminApiTest {

    @Test
    void onlyLoopbackAddressesMayCallTheAdminEndpoints() {
        assertThat(AdminApi.isLoopback("127.0.0.1")).isTrue();
        assertThat(AdminApi.isLoopback("127.8.9.10")).isTrue();
        assertThat(AdminApi.isLoopback("0:0:0:0:0:0:0:1")).isTrue();
        assertThat(AdminApi.isLoopback("[::1]")).isTrue();

        assertThat(AdminApi.isLoopback("10.0.0.5")).isFalse();
        assertThat(AdminApi.isLoopback("192.168.1.20")).isFalse();
        assertThat(AdminApi.isLoopback("::ffff:10.0.0.5")).isFalse();
        assertThat(AdminApi.isLoopback("fe80::1")).isFalse();
        assertThat(AdminApi.isLoopback("")).isFalse();
    }

    @Test
    void aHostNameIsNeverResolvedAndNeverCountsAsLoopback() {
        assertThat(AdminApi.isLoopback("localhost")).isFalse();
        assertThat(AdminApi.isLoopback("example.invalid")).isFalse();
        assertThat(AdminApi.isLoopback("face.bad")).isFalse();
    }

    @Test
    void onlyRequestsAddressedToALoopbackHostAndNotSentCrossSiteAreAdmitted() {
        assertThat(AdminApi.addressedFromThisMachine("127.0.0.1:7070", null, null))
                .isTrue();
        assertThat(AdminApi.addressedFromThisMachine("localhost:7070", "http://localhost:7070", "same-origin"))
                .isTrue();
        assertThat(AdminApi.addressedFromThisMachine("[::1]:7070", null, "none"))
                .isTrue();

        // DNS rebinding: a name that resolved to 127.0.0.1 for the attacker's page
        assertThat(AdminApi.addressedFromThisMachine("rebind.attacker.example:7070", null, null))
                .isFalse();
        assertThat(AdminApi.addressedFromThisMachine(null, null, null)).isFalse();
        // a form posted from another site
        assertThat(AdminApi.addressedFromThisMachine("127.0.0.1:7070", "http://evil.example", null))
                .isFalse();
        assertThat(AdminApi.addressedFromThisMachine("127.0.0.1:7070", "null", null))
                .isFalse();
        assertThat(AdminApi.addressedFromThisMachine("127.0.0.1:7070", null, "cross-site"))
                .isFalse();
        assertThat(AdminApi.addressedFromThisMachine("127.0.0.1:7070", null, "same-site"))
                .isFalse();
    }
}
