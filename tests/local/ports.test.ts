import assert from "node:assert/strict";
import { freePort, portFree } from "@local/ports.ts";

Deno.test("freePort: free ports below the kernel's ephemeral range, none handed out twice", () => {
  const [low] = Deno.readTextFileSync("/proc/sys/net/ipv4/ip_local_port_range").trim().split(
    /\s+/,
  ).map(Number);
  const ports = Array.from({ length: 200 }, () => freePort());
  assert.equal(new Set(ports).size, ports.length, "a port was handed out twice");
  for (const port of ports) {
    assert.ok(port >= 10_000 && port < low, `${port} is not below the ephemeral range (${low})`);
    assert.ok(portFree(port), `${port} is taken`);
  }
});

Deno.test("freePort: a free preferred port is kept, a taken one is replaced", () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: freePort() });
  try {
    const taken = (listener.addr as Deno.NetAddr).port;
    assert.notEqual(freePort(taken), taken);
    const free = freePort();
    assert.equal(freePort(free), free);
  } finally {
    listener.close();
  }
});
