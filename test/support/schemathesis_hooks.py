# Loaded by test/api-fuzz.test.ts (SCHEMATHESIS_HOOKS): schemathesis has no serializer for
# application/wasm, the body of POST /modules. The bytes go as they are.
import schemathesis


@schemathesis.serializer("application/wasm")
def wasm_bytes(ctx, value):
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    data = getattr(value, "data", value)  # schemathesis wraps generated binary in `Binary`
    return data if isinstance(data, bytes) else str(data).encode()
