import { configureTextEncoding } from '@bufbuild/protobuf/wire';

/**
 * Makes protobuf decoding refuse strings that are not valid UTF-8, as proto3 requires,
 * instead of turning their bad bytes into U+FFFD: a task would otherwise be stored other than
 * as it was sent. Process-wide (protobuf-es keeps one text codec); the coordinator calls it
 * before serving gRPC. A refused request fails to decode, which gRPC (and connect) answer
 * with `internal` and, here, a message that says a string is not valid UTF-8.
 */
export function useStrictUtf8(): void {
  const encoder = new TextEncoder();
  const decoder = new TextDecoder('utf-8', { fatal: true });
  configureTextEncoding({
    encodeUtf8: (text) => encoder.encode(text),
    decodeUtf8: (bytes) => {
      try {
        return decoder.decode(bytes);
      } catch {
        throw new Error('a string field is not valid UTF-8');
      }
    },
    checkUtf8: (text) => {
      try {
        encodeURIComponent(text);
        return true;
      } catch {
        return false;
      }
    },
  });
}
