DROP TABLE public_certificates_rebuild;
DROP TABLE public_certificates;
