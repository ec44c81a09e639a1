// A throwaway self-signed serving certificate for 127.0.0.1/localhost made
// with the openssl CLI (tests only), written into a temp dir.

export interface TestCert {
  dir: string;
  cert: string;
  key: string;
  certPath: string;
}

export async function makeTestCert(): Promise<TestCert> {
  const dir = await Deno.makeTempDir({ prefix: "weft-api-tls-" });
  const certPath = `${dir}/cert.pem`;
  const keyPath = `${dir}/key.pem`;
  const out = await new Deno.Command("openssl", {
    args: [
      "req",
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:P-256",
      "-nodes",
      "-days",
      "1",
      "-subj",
      "/CN=weft-test",
      "-addext",
      "subjectAltName=IP:127.0.0.1,DNS:localhost",
      "-keyout",
      keyPath,
      "-out",
      certPath,
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!out.success) {
    throw new Error(`openssl failed: ${new TextDecoder().decode(out.stderr)}`);
  }
  return {
    dir,
    certPath,
    cert: await Deno.readTextFile(certPath),
    key: await Deno.readTextFile(keyPath),
  };
}
