"""Users: accounts with one role each, their API tokens, and browser sessions."""
