"""Tables, engine and the domain operations, each one a transaction. Never imports aiogram."""
