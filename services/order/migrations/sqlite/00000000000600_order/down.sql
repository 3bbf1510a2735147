DROP TABLE order_deadlines;
DROP TABLE order_view;
