"""Pure decision makers of Oktopus: numpy in, numpy or JSON-able data out."""
