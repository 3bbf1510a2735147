ALTER TABLE stock_products DROP COLUMN price_currency;
ALTER TABLE stock_products DROP COLUMN price_amount;
