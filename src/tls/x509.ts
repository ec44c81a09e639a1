// X.509 certificates signed with ECDSA P-256 through WebCrypto: a cluster CA
// and leaf certificates issued by it, plus the few fields weft reads back.

import { IP } from "../net/mod.ts";
import { encodeHex } from "../util/encoding.ts";
import * as der from "./_der.ts";
import { pemEncode, pemFirst } from "./pem.ts";

const OID = {
  ecPublicKey: "1.2.840.10045.2.1",
  ecdsaWithSHA256: "1.2.840.10045.4.3.2",
  commonName: "2.5.4.3",
  organization: "2.5.4.10",
  subjectKeyId: "2.5.29.14",
  keyUsage: "2.5.29.15",
  subjectAltName: "2.5.29.17",
  basicConstraints: "2.5.29.19",
  authorityKeyId: "2.5.29.35",
  extKeyUsage: "2.5.29.37",
  serverAuth: "1.3.6.1.5.5.7.3.1",
  clientAuth: "1.3.6.1.5.5.7.3.2",
} as const;

const ALG = { name: "ECDSA", namedCurve: "P-256" } as const;
const SIGN = { name: "ECDSA", hash: "SHA-256" } as const;
const DAY = 86_400_000;

export class CertificateError extends Error {
  override name = "CertificateError";
}

/** A certificate and its private key, both PEM. */
export interface KeyPair {
  certPem: string;
  keyPem: string;
}

export interface Subject {
  commonName: string;
  organization?: string;
}

export interface CertInfo {
  subject: Subject;
  issuer: Subject;
  notBefore: Date;
  notAfter: Date;
  isCA: boolean;
  /** DNS names and IP addresses (as text) of the subjectAltName. */
  sans: string[];
  subjectKeyId?: string;
  authorityKeyId?: string;
}

function name(s: Subject): Uint8Array {
  const rdn = (type: string, v: string) =>
    der.set(der.seq(der.oid(type), der.utf8(v)));
  return der.seq(
    ...(s.organization ? [rdn(OID.organization, s.organization)] : []),
    rdn(OID.commonName, s.commonName),
  );
}

function extension(id: string, critical: boolean, value: Uint8Array) {
  return der.seq(
    der.oid(id),
    ...(critical ? [der.bool(true)] : []),
    der.octets(value),
  );
}

/** Key usage bits: digitalSignature(0), keyCertSign(5), cRLSign(6). */
function keyUsage(ca: boolean): Uint8Array {
  const bits = ca ? 0x80 | 0x04 | 0x02 : 0x80;
  const unused = ca ? 1 : 7;
  return der.tlv(der.TAG.BIT_STRING, new Uint8Array([unused, bits]));
}

/** Splits SAN text into dNSName [2] and iPAddress [7] entries. */
export function sanEntries(sans: string[]): Uint8Array {
  const enc = new TextEncoder();
  return der.seq(...sans.map((s) => {
    const ip = IP.tryParse(s);
    return ip ? der.tlv(0x87, ip.bytes()) : der.tlv(0x82, enc.encode(s));
  }));
}

/** ECDSA signatures from WebCrypto are r||s; X.509 wants SEQUENCE{r, s}. */
function p1363ToDer(sig: Uint8Array): Uint8Array {
  const half = sig.length / 2;
  return der.seq(der.uint(sig.subarray(0, half)), der.uint(sig.subarray(half)));
}

async function publicKeyRaw(key: CryptoKey): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.exportKey("raw", key));
}

async function keyId(rawPublic: Uint8Array): Promise<Uint8Array> {
  const digest = await crypto.subtle.digest(
    "SHA-256",
    new Uint8Array(rawPublic),
  );
  return new Uint8Array(digest).subarray(0, 20);
}

export function generateKey(): Promise<CryptoKeyPair> {
  return crypto.subtle.generateKey(ALG, true, ["sign", "verify"]);
}

async function keyPem(key: CryptoKey): Promise<string> {
  const pkcs8 = new Uint8Array(await crypto.subtle.exportKey("pkcs8", key));
  return pemEncode("PRIVATE KEY", pkcs8);
}

/** Imports a PKCS#8 "PRIVATE KEY" PEM (P-256) and derives its public key. */
export async function importKeyPair(pem: string): Promise<CryptoKeyPair> {
  const pkcs8 = pemFirst(pem, "PRIVATE KEY");
  const privateKey = await crypto.subtle.importKey(
    "pkcs8",
    new Uint8Array(pkcs8),
    ALG,
    true,
    [
      "sign",
    ],
  );
  const jwk = await crypto.subtle.exportKey("jwk", privateKey);
  delete jwk.d;
  jwk.key_ops = ["verify"];
  const publicKey = await crypto.subtle.importKey("jwk", jwk, ALG, true, [
    "verify",
  ]);
  return { privateKey, publicKey };
}

interface Template {
  subject: Subject;
  issuer: Subject;
  publicKey: CryptoKey;
  signer: CryptoKey;
  issuerKeyId: Uint8Array;
  days: number;
  ca: boolean;
  sans?: string[];
  usages?: ("serverAuth" | "clientAuth")[];
  now?: Date;
}

async function build(t: Template): Promise<Uint8Array> {
  const spki = new Uint8Array(
    await crypto.subtle.exportKey("spki", t.publicKey),
  );
  const ski = await keyId(await publicKeyRaw(t.publicKey));
  const now = t.now ?? new Date();
  const notBefore = new Date(now.getTime() - 5 * 60_000);
  const notAfter = new Date(now.getTime() + t.days * DAY);
  const serial = crypto.getRandomValues(new Uint8Array(16));
  serial[0] &= 0x7f;
  const exts = [
    extension(OID.keyUsage, true, keyUsage(t.ca)),
    extension(
      OID.basicConstraints,
      true,
      t.ca ? der.seq(der.bool(true)) : der.seq(),
    ),
    extension(OID.subjectKeyId, false, der.octets(ski)),
  ];
  if (!t.ca) {
    exts.push(extension(
      OID.authorityKeyId,
      false,
      der.seq(der.tlv(0x80, t.issuerKeyId)),
    ));
  }
  if (t.usages?.length) {
    exts.push(extension(
      OID.extKeyUsage,
      false,
      der.seq(...t.usages.map((u) => der.oid(OID[u]))),
    ));
  }
  if (t.sans?.length) {
    exts.push(extension(OID.subjectAltName, false, sanEntries(t.sans)));
  }
  const sigAlg = der.seq(der.oid(OID.ecdsaWithSHA256));
  const tbs = der.seq(
    der.explicit(0, der.int(2)),
    der.uint(serial),
    sigAlg,
    name(t.issuer),
    der.seq(der.time(notBefore), der.time(notAfter)),
    name(t.subject),
    spki,
    der.explicit(3, der.seq(...exts)),
  );
  const sig = new Uint8Array(
    await crypto.subtle.sign(SIGN, t.signer, new Uint8Array(tbs)),
  );
  return der.seq(tbs, sigAlg, der.bitString(p1363ToDer(sig)));
}

/** A self-signed CA certificate with a fresh P-256 key. */
export async function createCA(
  commonName: string,
  days = 3650,
): Promise<KeyPair> {
  const keys = await generateKey();
  const subject = { commonName };
  const certDer = await build({
    subject,
    issuer: subject,
    publicKey: keys.publicKey,
    signer: keys.privateKey,
    issuerKeyId: await keyId(await publicKeyRaw(keys.publicKey)),
    days,
    ca: true,
  });
  return {
    certPem: pemEncode("CERTIFICATE", certDer),
    keyPem: await keyPem(keys.privateKey),
  };
}

export interface IssueOptions {
  subject: Subject;
  sans?: string[];
  usages?: ("serverAuth" | "clientAuth")[];
  days?: number;
}

/** A leaf certificate with a fresh P-256 key, signed by the CA. */
export async function issueCert(
  ca: KeyPair,
  opts: IssueOptions,
): Promise<KeyPair> {
  const caKeys = await importKeyPair(ca.keyPem);
  const caInfo = certInfo(ca.certPem);
  const keys = await generateKey();
  const certDer = await build({
    subject: opts.subject,
    issuer: caInfo.subject,
    publicKey: keys.publicKey,
    signer: caKeys.privateKey,
    issuerKeyId: await keyId(await publicKeyRaw(caKeys.publicKey)),
    days: opts.days ?? 365,
    ca: false,
    sans: opts.sans,
    usages: opts.usages,
  });
  return {
    certPem: pemEncode("CERTIFICATE", certDer),
    keyPem: await keyPem(keys.privateKey),
  };
}

/** The subject key id weft gives a certificate of this key (hex). */
export async function keyIdOf(keyPem: string): Promise<string> {
  const { publicKey } = await importKeyPair(keyPem);
  return encodeHex(await keyId(await publicKeyRaw(publicKey)));
}

function readName(node: der.Node): Subject {
  const s: Subject = { commonName: "" };
  for (const rdn of der.children(node)) {
    for (const atv of der.children(rdn)) {
      const [type, value] = der.children(atv);
      const text = new TextDecoder().decode(value.content);
      const id = der.readOid(type);
      if (id === OID.commonName) s.commonName = text;
      if (id === OID.organization) s.organization = text;
    }
  }
  return s;
}

function readSans(value: Uint8Array): string[] {
  return der.children(der.read(value)).map((gn) => {
    if (gn.tag === 0x87) return IP.fromBytes(gn.content).toString();
    return new TextDecoder().decode(gn.content);
  });
}

/** Reads the fields weft cares about from the first certificate of a PEM. */
export function certInfo(pem: string): CertInfo {
  try {
    const cert = der.read(pemFirst(pem, "CERTIFICATE"));
    const tbs = der.children(der.children(cert)[0]);
    const i = tbs[0].tag === 0xa0 ? 1 : 0;
    const [notBefore, notAfter] = der.children(tbs[i + 3]).map(der.readTime);
    const info: CertInfo = {
      issuer: readName(tbs[i + 2]),
      subject: readName(tbs[i + 4]),
      notBefore,
      notAfter,
      isCA: false,
      sans: [],
    };
    const extsWrap = tbs.find((n) => n.tag === 0xa3);
    const exts = extsWrap ? der.children(der.children(extsWrap)[0]) : [];
    for (const ext of exts) {
      const parts = der.children(ext);
      const id = der.readOid(parts[0]);
      const value = parts[parts.length - 1].content;
      if (id === OID.subjectAltName) info.sans = readSans(value);
      if (id === OID.subjectKeyId) {
        info.subjectKeyId = encodeHex(der.read(value).content);
      }
      if (id === OID.authorityKeyId) {
        const keyIdNode = der.children(der.read(value)).find((n) =>
          n.tag === 0x80
        );
        if (keyIdNode) info.authorityKeyId = encodeHex(keyIdNode.content);
      }
      if (id === OID.basicConstraints) {
        const bc = der.children(der.read(value));
        info.isCA = bc.length > 0 && bc[0].tag === der.TAG.BOOLEAN &&
          bc[0].content[0] !== 0;
      }
    }
    return info;
  } catch (e) {
    if (e instanceof CertificateError) throw e;
    throw new CertificateError(
      `cannot read certificate: ${(e as Error).message}`,
      { cause: e },
    );
  }
}
