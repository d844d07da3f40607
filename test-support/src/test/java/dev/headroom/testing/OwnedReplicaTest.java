package dev.headroom.testing;

import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class OwnedReplicaTest {

    @ParameterizedTest
    @ValueSource(strings = {"", "Upper", "with-dash", "with space", "a_name_far_too_long_for_a_slot_x"})
    void refusesANameThatCannotBePartOfASlotNameBeforeTouchingAnything(String name) {
        assertThatThrownBy(() -> OwnedReplica.create(name))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("'" + name + "'");
    }
}
