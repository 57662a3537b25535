/**
 * Test PKI made with the openssl CLI in a temp dir: ECDSA P-256 roots (CN swarm-ca) and node certificates
 * with CN = node id, OU = role, O = cluster id and SANs like SwarmKit's (role name, node id, swarm-ca for
 * managers). Used only by tests and the bench; the real CA lives in src/host/ca.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** One certificate authority on disk. */
export interface TestCa {
  name: string;
  certPath: string;
  keyPath: string;
  certPem: Buffer;
}

/** One issued node certificate with its key. */
export interface TestNodeCert {
  certPem: Buffer;
  keyPem: Buffer;
}

function openssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

/** A temp dir of test certificates; call {@link TestPki.cleanup} when done. */
export class TestPki {
  readonly dir: string;
  private serial = 1;

  constructor() {
    this.dir = mkdtempSync(join(tmpdir(), 'swarmhost-pki-'));
  }

  /** A self-signed P-256 root with CN swarm-ca (valid 1 day). */
  root(name: string): TestCa {
    const keyPath = join(this.dir, `${name}.key`);
    const certPath = join(this.dir, `${name}.crt`);
    openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', keyPath], this.dir);
    openssl(
      [
        'req', '-x509', '-new', '-key', keyPath, '-out', certPath, '-days', '1', '-subj', '/CN=swarm-ca',
        '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
      ],
      this.dir,
    );
    return { name, certPath, keyPath, certPem: readFileSync(certPath) };
  }

  /** A node certificate signed by `ca`: CN = nodeId, OU = role, O = clusterId; SANs role, nodeId (+ swarm-ca for managers). */
  node(ca: TestCa, nodeId: string, role: string, clusterId: string): TestNodeCert {
    const base = join(this.dir, `${ca.name}-${nodeId}-${this.serial}`);
    const keyPath = `${base}.key`;
    const csrPath = `${base}.csr`;
    const certPath = `${base}.crt`;
    const extPath = `${base}.ext`;
    const sans = [`DNS:${role}`, `DNS:${nodeId}`];
    if (role === 'swarm-manager') sans.push('DNS:swarm-ca');
    writeFileSync(
      extPath,
      [
        `subjectAltName=${sans.join(',')}`,
        'keyUsage=critical,digitalSignature,keyEncipherment',
        'extendedKeyUsage=serverAuth,clientAuth',
        'basicConstraints=critical,CA:FALSE',
      ].join('\n') + '\n',
    );
    openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', `${keyPath}.ec`], this.dir);
    openssl(['pkcs8', '-topk8', '-nocrypt', '-in', `${keyPath}.ec`, '-out', keyPath], this.dir);
    openssl(['req', '-new', '-key', keyPath, '-out', csrPath, '-subj', `/CN=${nodeId}/OU=${role}/O=${clusterId}`], this.dir);
    openssl(
      [
        'x509', '-req', '-in', csrPath, '-CA', ca.certPath, '-CAkey', ca.keyPath, '-set_serial', String(this.serial++),
        '-days', '1', '-out', certPath, '-extfile', extPath,
      ],
      this.dir,
    );
    return { certPem: readFileSync(certPath), keyPem: readFileSync(keyPath) };
  }

  /** Removes the temp dir. */
  cleanup(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}
