// libsignal ships a partial index.d.ts; these are the members the sandbox also uses.
import 'libsignal';

declare module 'libsignal' {
  interface SessionRecord {
    getOpenSession(): { pendingPreKey?: unknown } | undefined;
  }
}
