"""Database migrations: the goose-format parser (`goose.parse`), its runner (`runner`), and the migrate and
seed steps of `up` (`steps`, `seeds`)."""
