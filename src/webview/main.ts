// The budget panel's browser bundle; it talks to the extension only through ./protocol.ts.
export {};
