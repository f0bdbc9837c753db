ALTER TABLE sessions DROP COLUMN mfa;
ALTER TABLE users DROP COLUMN mfa_enabled;
DROP TABLE mfa_challenges;
DROP TABLE recovery_codes;
DROP TABLE totp_factors;
