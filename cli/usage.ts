/** The CLI's usage text: every command form and option, as `wasmbed --help` prints it. */

export const USAGE = `wasmbed — WebAssembly on microcontroller fleets

Usage:
  wasmbed up                                  run the whole platform (like npm start)
  wasmbed status                              health of every platform process
  wasmbed device list [--phase P] [--runtime R] [--mcu TYPE] [--gateway G] [--label k=v]... [--prefix P]
                     [--app APP [--app-state STATE]]
                                              APP: devices that have it; STATE: where it is Failed, Running, …
  wasmbed device create-batch (--count N --prefix P [--start N] | --file SPECS.json) [--name BATCH]
                     [--mcu TYPE] [--runtime R] [--label k=v]... [--gateway G] [--watch]
  wasmbed device batch-status BATCH [--watch]
  wasmbed device get NAME
  wasmbed device create NAME [--mcu TYPE] [--runtime R] [--label k=v]... [--gateway G] [--firmware PATH] [--watch]
  wasmbed device retry NAME [--watch]
  wasmbed device restart NAME [--watch]
  wasmbed device rotate-certificate NAME [--watch]
                                              a new certificate now; --watch: until the device uses it
  wasmbed device delete NAME [--watch]
  wasmbed device delete [--phase P] [--runtime R] [--mcu TYPE] [--gateway G] [--label k=v]... [--prefix P]
                     [--app APP [--app-state STATE]] [--watch]
                                              every device the filters select (at least one)
  wasmbed app list [--phase P] [--label k=v]... [--prefix P] | get NAME | promote NAME | abort NAME | stop NAME | delete NAME
  wasmbed app deploy FILE.wasm (--to d1,d2 | --selector k=v | --all) [--name N]
                     [--strategy AllAtOnce|Rolling|Canary] [--max-unavailable N|P%] [--canary N|P%]
                     [--pause-after-canary] [--failure-threshold N] [--entry F]
                     [--env K=V]... [--arg A]... [--memory-pages N] [--detach]
  wasmbed app update NAME [FILE.wasm] [--to d1,d2 | --selector k=v | --all]
                     [--strategy AllAtOnce|Rolling|Canary] [--max-unavailable N|P%] [--canary N|P%]
                     [--pause-after-canary | --no-pause-after-canary] [--failure-threshold N] [--entry F]
                     [--env K=V]... [--arg A]... [--memory-pages N] [--detach]
                                              a new version: what is given replaces, the rest stays
  wasmbed logs DEVICE [-f] [--app APP]
  wasmbed enrollment-token create [--name DEVICE] [--ttl 24h] | list | revoke ID
  wasmbed claim-cert create DEVICE [--ttl 30d] [--out DIR]   claim certificate for a factory board
  wasmbed enrollment list | approve DEVICE | reject DEVICE [--reason TEXT]
  wasmbed ca                                  the CA certificate devices trust (PEM)

Options:
  -o, --output table|json   output format (default table)
  --url URL                 API base (default $WASMBED_URL or http://127.0.0.1:3000)
  --timeout SECONDS         how long --watch waits (default 180)
  --limit N                 page size of list requests (default 500; lists follow every page)
  -h, --help

Environment: WASMBED_URL, WASMBED_API_TOKEN.`;
