import { assertEquals, assertThrows } from "@std/assert";
import { CIDR } from "../../src/net/mod.ts";
import {
  FlannelError,
  formatSubnetEnv,
  gatewayForm,
  parseSubnetEnv,
  readSubnetEnv,
  writeSubnetEnv,
} from "../../src/flannel/mod.ts";

const env = {
  network: CIDR.parse("10.42.0.0/16"),
  subnet: gatewayForm(CIDR.parse("10.42.1.0/24")),
  ipv6Network: null,
  ipv6Subnet: null,
  mtu: 1450,
  ipMasq: true,
};

Deno.test("formatSubnetEnv() writes flannel's keys in flannel's order", () => {
  assertEquals(
    formatSubnetEnv(env),
    "FLANNEL_NETWORK=10.42.0.0/16\nFLANNEL_SUBNET=10.42.1.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n",
  );
  const dual = formatSubnetEnv({
    ...env,
    ipv6Network: CIDR.parse("2001:cafe:42::/56"),
    ipv6Subnet: gatewayForm(CIDR.parse("2001:cafe:42:1::/64")),
  });
  assertEquals(dual.split("\n").map((l) => l.split("=")[0]), [
    "FLANNEL_NETWORK",
    "FLANNEL_SUBNET",
    "FLANNEL_IPV6_NETWORK",
    "FLANNEL_IPV6_SUBNET",
    "FLANNEL_MTU",
    "FLANNEL_IPMASQ",
    "",
  ]);
  assertEquals(dual.includes("FLANNEL_IPV6_SUBNET=2001:cafe:42:1::1/64"), true);
});

Deno.test("parseSubnetEnv() round-trips and rejects bad lines", () => {
  const back = parseSubnetEnv(formatSubnetEnv(env));
  assertEquals(back.network?.toString(), "10.42.0.0/16");
  assertEquals(back.subnet?.toString(), "10.42.1.1/24");
  assertEquals(back.mtu, 1450);
  assertEquals(back.ipMasq, true);
  assertThrows(
    () => parseSubnetEnv("FLANNEL_MTU=big\n"),
    FlannelError,
    "line 1",
  );
  assertThrows(() => parseSubnetEnv("garbage\n"), FlannelError, 'no "="');
  assertThrows(() => parseSubnetEnv("FLANNEL_SUBNET=10.1\n"), FlannelError);
});

Deno.test("writeSubnetEnv() is atomic with 0644 file and 0755 directory", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/run/flannel/subnet.env`;
    await writeSubnetEnv(path, env);
    assertEquals((await Deno.stat(path)).mode! & 0o777, 0o644);
    assertEquals((await Deno.stat(`${dir}/run/flannel`)).mode! & 0o777, 0o755);
    await writeSubnetEnv(path, { ...env, mtu: 1400 });
    assertEquals((await readSubnetEnv(path))?.mtu, 1400);
    const left = [...Deno.readDirSync(`${dir}/run/flannel`)].map((e) => e.name);
    assertEquals(left, ["subnet.env"]);
    assertEquals(await readSubnetEnv(`${dir}/none.env`), null);
    await Deno.writeTextFile(path, "FLANNEL_MTU=x\n");
    const logs: string[] = [];
    assertEquals(await readSubnetEnv(path, (m) => logs.push(m)), null);
    assertEquals(logs.length, 1);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
