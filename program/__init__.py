"""The Pulumi program: typed stack settings and the wiring of the table exporter."""
