DROP TABLE billing_refunds;
DROP TABLE billing_charges;
DROP TABLE billing_accounts;
