"""The field app: interview pages for phones and an operator page for the kit's screen."""
