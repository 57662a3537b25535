/**
 * The file-system seam used by the WAL and snapshot store. Paths are absolute or relative to the caller's
 * directory. Writes are durable only after {@link FileHandle.sync}; a simulated implementation drops every
 * byte written after the last sync when it "crashes", and drops directory entries (creates, renames, unlinks)
 * made after the last {@link Fs.syncDir} of their directory.
 */
export interface Fs {
  /** Opens a file for appending (created if missing). */
  openAppend(path: string): Promise<FileHandle>;
  /** Whole file contents; throws an error with code 'ENOENT' when missing. */
  readFile(path: string): Promise<Uint8Array>;
  /** Writes a whole file (no sync: call {@link Fs.writeFileSync} semantics via openAppend + sync if needed). */
  writeFile(path: string, data: Uint8Array): Promise<void>;
  /** Atomically replaces `to` with `from`. */
  rename(from: string, to: string): Promise<void>;
  /** Removes a file; a missing file is not an error. */
  unlink(path: string): Promise<void>;
  /** Names (not paths) of the entries of a directory, sorted; [] when the directory is missing. */
  readdir(dir: string): Promise<string[]>;
  /** Creates a directory and its parents. */
  mkdirp(dir: string, mode?: number): Promise<void>;
  /** Makes the directory's entries (creates, renames, unlinks) durable. */
  syncDir(dir: string): Promise<void>;
  /** Truncates a file to `length` bytes. */
  truncate(path: string, length: number): Promise<void>;
  /** Size in bytes, or undefined when missing. */
  size(path: string): Promise<number | undefined>;
}

/** An open append-only file. */
export interface FileHandle {
  /** Appends bytes at the end of the file (not durable until sync). */
  append(data: Uint8Array): Promise<void>;
  /** Makes everything appended so far durable (fdatasync). */
  sync(): Promise<void>;
  /** Current size in bytes, including unsynced appends. */
  size(): number;
  close(): Promise<void>;
}
