DROP TABLE service_clients;
DROP TABLE signing_keys;
