"""The development stack (`lotse dev` and the tests): a local Synapse, its workers and
E2EE test clients. Only `lotse dev` and the tests import it; a production install needs
neither Synapse nor matrix-nio."""
