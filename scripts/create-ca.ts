/**
 * Makes the platform's two CAs (the device CA and the claim CA) in a directory, the way every
 * process would on first start, and prints the command that puts them in the wasmbed-ca Secret
 * of a Kubernetes install, where no pod may make its own (docs/kubernetes.md). An existing CA in
 * the directory is kept, so devices certified by it stay valid.
 *
 *   npx tsx scripts/create-ca.ts [dir]      (default .wasmbed/pki)
 */
import path from 'node:path';
import { CA_CERT_FILE, CA_KEY_FILE, CertificateAuthority } from '../pki/certificate-authority.js';
import { CLAIM_CA_COMMON_NAME } from '../platform/context.js';

const dir = path.resolve(process.argv[2] ?? path.join('.wasmbed', 'pki'));
const claimDir = path.join(dir, 'claim');
await CertificateAuthority.loadOrCreate(dir);
await CertificateAuthority.loadOrCreate(claimDir, { commonName: CLAIM_CA_COMMON_NAME });
const from = (key: string, file: string) => `--from-file=${key}=${path.relative(process.cwd(), file)}`;
process.stdout.write(
  [
    `CAs in ${dir}; put them in the cluster with:`,
    `  kubectl -n wasmbed create secret generic wasmbed-ca \\`,
    `    ${from('ca.crt', path.join(dir, CA_CERT_FILE))} ${from('ca.key', path.join(dir, CA_KEY_FILE))} \\`,
    `    ${from('claim-ca.crt', path.join(claimDir, CA_CERT_FILE))} ${from('claim-ca.key', path.join(claimDir, CA_KEY_FILE))}`,
    '',
  ].join('\n'),
);
