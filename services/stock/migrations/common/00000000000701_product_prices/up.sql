-- The catalogue's unit price of a product (ProductCreated.price); NULL for products created
-- without one.
ALTER TABLE stock_products ADD COLUMN price_amount BIGINT;
ALTER TABLE stock_products ADD COLUMN price_currency TEXT;
