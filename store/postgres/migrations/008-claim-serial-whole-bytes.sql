-- Claim certificate serials in the one spelling the platform records (pki/certificate-info.ts
-- serialHex): lower-case hex in whole bytes. Rows written before hold the serial without the
-- leading zero nibble of its first byte; the lookup now asks for it with that zero.
UPDATE claim_credentials SET serial = '0' || serial
 WHERE serial IS NOT NULL AND length(serial) % 2 = 1 AND serial ~ '^[0-9a-f]+$';
