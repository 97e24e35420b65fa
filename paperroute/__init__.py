"""paperroute: one content store of research papers, published as a static site, feeds and an email digest."""

__version__ = "0.1.0"
