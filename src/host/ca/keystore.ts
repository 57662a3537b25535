/**
 * A node's TLS material on disk, in SwarmKit's layout under the state dir:
 *   certificates/swarm-node.crt     node certificate (PEM, 0644)
 *   certificates/swarm-node.key     node private key (PKCS#8 PEM, 0600)
 *   certificates/swarm-root-ca.crt  root CA certificate (PEM, 0644)
 *   certificates/swarm-root-ca.key  root CA key (PKCS#8 PEM, 0600) — only on the bootstrapping manager; the
 *                                   cluster object is the copy every manager's signer uses
 * Every file is written atomically (temp file, fsync, rename, fsync of the directory), so a crash leaves the
 * old or the new file, never a torn one. A restarted node loads its identity from here without a token.
 */
import { constants } from 'node:fs';
import { mkdir, open, readFile, rename, unlink } from 'node:fs/promises';
import { createPublicKey } from 'node:crypto';
import { dirname, join } from 'node:path';
import { FailedPreconditionError } from '../api/errors.js';
import { loadPrivateKey, spkiDer } from './keys.js';
import { parseNodeIdentity, type NodeIdentity } from './node-identity.js';
import type { RootCAMaterial } from './root-ca.js';
import { parseCertificate, verifyCertificateSignature } from './x509.js';

/** Folder under the state dir that holds the certificates. */
export const CERTIFICATES_DIR = 'certificates';
/** Node certificate file name. */
export const NODE_CERT_FILE = 'swarm-node.crt';
/** Node private key file name. */
export const NODE_KEY_FILE = 'swarm-node.key';
/** Root CA certificate file name. */
export const ROOT_CERT_FILE = 'swarm-root-ca.crt';
/** Root CA key file name (bootstrapping manager only). */
export const ROOT_KEY_FILE = 'swarm-root-ca.key';
/** Mode of private key files. */
export const PRIVATE_FILE_MODE = 0o600;
/** Mode of certificate files. */
export const PUBLIC_FILE_MODE = 0o644;
/** Mode of the certificates folder. */
export const CERTIFICATES_DIR_MODE = 0o755;

/** What a node needs for mutual TLS: its certificate and key, and the root it trusts (all PEM). */
export interface NodeTlsMaterial {
  certPem: string;
  /** PKCS#8 PEM. */
  keyPem: string;
  rootPem: string;
}

/** Loaded material plus the identity its certificate states. */
export interface LoadedNode extends NodeTlsMaterial {
  identity: NodeIdentity;
}

let tmpCounter = 0;

/**
 * Writes `data` to `path` atomically with `mode`: a temp file in the same folder created with that mode, the
 * bytes, fsync, close, rename over `path`, fsync of the folder.
 */
export async function writeFileAtomic(path: string, data: string | Uint8Array, mode: number): Promise<void> {
  const dir = dirname(path);
  const tmp = `${path}.tmp-${process.pid}-${++tmpCounter}`;
  const fh = await open(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, mode);
  try {
    await fh.writeFile(data);
    // The umask may have removed bits at creation; set the exact mode before the file becomes visible.
    await fh.chmod(mode);
    await fh.sync();
  } catch (e) {
    await fh.close();
    await unlink(tmp).catch(() => undefined);
    throw e;
  }
  await fh.close();
  try {
    await rename(tmp, path);
  } catch (e) {
    await unlink(tmp).catch(() => undefined);
    throw e;
  }
  const dh = await open(dir, constants.O_RDONLY);
  try {
    await dh.sync();
  } finally {
    await dh.close();
  }
}

async function readOptional(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}

/** The certificate files of one state dir. */
export class KeyStore {
  /** Absolute or relative path of the certificates folder. */
  readonly dir: string;

  constructor(stateDir: string) {
    this.dir = join(stateDir, CERTIFICATES_DIR);
  }

  /** Path of a file in the certificates folder. */
  path(file: string): string {
    return join(this.dir, file);
  }

  private async ensureDir(): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: CERTIFICATES_DIR_MODE });
  }

  /**
   * Saves a node's material: root certificate, then key, then certificate, each atomically. A crash between the
   * key and the certificate leaves a pair that {@link load} reports as mismatched (the node then rejoins).
   */
  async saveNode(m: NodeTlsMaterial): Promise<void> {
    await this.ensureDir();
    await writeFileAtomic(this.path(ROOT_CERT_FILE), m.rootPem, PUBLIC_FILE_MODE);
    await writeFileAtomic(this.path(NODE_KEY_FILE), m.keyPem, PRIVATE_FILE_MODE);
    await writeFileAtomic(this.path(NODE_CERT_FILE), m.certPem, PUBLIC_FILE_MODE);
  }

  /** Replaces only the trusted root (after a root rotation). */
  async saveRootCert(rootPem: string): Promise<void> {
    await this.ensureDir();
    await writeFileAtomic(this.path(ROOT_CERT_FILE), rootPem, PUBLIC_FILE_MODE);
  }

  /**
   * Loads the node's material, or undefined when the node has no certificate yet (it must join). Checks that
   * all three files exist, the key matches the certificate and the root signed the certificate; otherwise a
   * FailedPreconditionError naming the file.
   */
  async load(): Promise<LoadedNode | undefined> {
    const certPem = await readOptional(this.path(NODE_CERT_FILE));
    const keyPem = await readOptional(this.path(NODE_KEY_FILE));
    const rootPem = await readOptional(this.path(ROOT_CERT_FILE));
    if (certPem === undefined && keyPem === undefined) return undefined;
    if (certPem === undefined) throw new FailedPreconditionError(`${this.path(NODE_CERT_FILE)}: missing while ${NODE_KEY_FILE} exists`);
    if (keyPem === undefined) throw new FailedPreconditionError(`${this.path(NODE_KEY_FILE)}: missing while ${NODE_CERT_FILE} exists`);
    if (rootPem === undefined) throw new FailedPreconditionError(`${this.path(ROOT_CERT_FILE)}: missing`);
    const cert = parseCertificate(certPem, this.path(NODE_CERT_FILE));
    const root = parseCertificate(rootPem, this.path(ROOT_CERT_FILE));
    const key = loadPrivateKey(keyPem, this.path(NODE_KEY_FILE));
    if (!spkiDer(createPublicKey(key)).equals(cert.subjectPublicKeyDer)) {
      throw new FailedPreconditionError(`${this.path(NODE_KEY_FILE)}: does not match the public key of ${NODE_CERT_FILE}`);
    }
    if (!verifyCertificateSignature(cert.der, root.publicKey)) {
      throw new FailedPreconditionError(`${this.path(NODE_CERT_FILE)}: not signed by the root CA in ${ROOT_CERT_FILE}`);
    }
    return { certPem, keyPem, rootPem, identity: parseNodeIdentity(certPem) };
  }

  /** Saves the root CA certificate and key (the bootstrapping manager). */
  async saveRootCA(m: RootCAMaterial): Promise<void> {
    await this.ensureDir();
    await writeFileAtomic(this.path(ROOT_KEY_FILE), m.keyPem, PRIVATE_FILE_MODE);
    await writeFileAtomic(this.path(ROOT_CERT_FILE), m.certPem, PUBLIC_FILE_MODE);
  }

  /** The root CA certificate and key when this node holds the key file, else undefined. */
  async loadRootCA(): Promise<RootCAMaterial | undefined> {
    const keyPem = await readOptional(this.path(ROOT_KEY_FILE));
    if (keyPem === undefined) return undefined;
    const certPem = await readOptional(this.path(ROOT_CERT_FILE));
    if (certPem === undefined) throw new FailedPreconditionError(`${this.path(ROOT_CERT_FILE)}: missing while ${ROOT_KEY_FILE} exists`);
    return { certPem, keyPem };
  }

  /** Deletes the root CA key file (a demoted manager must not keep it). A missing file is not an error. */
  async removeRootCAKey(): Promise<void> {
    await unlink(this.path(ROOT_KEY_FILE)).catch((e: NodeJS.ErrnoException) => {
      if (e.code !== 'ENOENT') throw e;
    });
  }
}
