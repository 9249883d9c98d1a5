"""`product-media apply`: bulk media from a manifest (CSV or JSON Lines)."""
