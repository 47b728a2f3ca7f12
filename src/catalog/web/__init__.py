"""Server-rendered web pages: the storefront, live product pages and operations."""
