from tests.fixtures.connections import make_connection

__all__ = ["make_connection"]
