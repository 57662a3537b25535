// Memory layout shared by the built-in pipeline and strategy modules (ABI v1, docs/abi/strategy-v1.md).
// The host writes a table header (T) and a group header (G) in linear memory and passes their addresses.
// Every offset below is in bytes from the header's start; every field is a u32 unless noted.

// ---- table header ----
export const T_CAP: u32 = 0; // row capacity of every column
export const T_ROWS: u32 = 4; // rows in use (dead rows have live = 0)
export const T_LIVE: u32 = 8; // u8[cap]: 1 = a node occupies the row
export const T_READY: u32 = 12; // u8[cap]: 1 = status READY and availability ACTIVE
export const T_CPU: u32 = 16; // f64[cap]: available nano-CPUs
export const T_MEM: u32 = 20; // f64[cap]: available memory bytes
export const T_TOTAL: u32 = 24; // i32[cap]: active tasks on the node
export const T_SVC: u32 = 28; // i32[cap]: active tasks of the current group's service
export const T_FAIL: u32 = 32; // i32[cap]: recent failures of the current group's service version
export const T_HASPLAT: u32 = 36; // u8[cap]: node reported a platform
export const T_ARCH: u32 = 40; // u32[cap]: architecture string id (exact case)
export const T_OS: u32 = 44; // u32[cap]: OS string id (exact case)
export const T_IPKIND: u32 = 48; // u8[cap]: 0 = no valid address, 4 = IPv4, 6 = IPv6
export const T_IP: u32 = 52; // u32[cap*4]: address as 16 bytes (IPv4 as ::ffff:a.b.c.d)
export const T_GENK: u32 = 56; // number of generic resource kinds (columns)
export const T_GEN: u32 = 60; // f64[genK*cap]: available count of kind k at [k*cap + row]
export const T_FOLD: u32 = 64; // u32[strings]: string id -> id of its case-folded form
export const T_ARCHNORM: u32 = 68; // u32[strings]: string id -> id of its normalized architecture
export const T_PORTS: u32 = 72; // host-port hash: u32 pairs (row + 1, protocol*65536 + port), 0 = empty
export const T_PORTCAP: u32 = 76; // entries in the port hash (power of two)
export const T_SCRATCH: u32 = 80; // scratch area for one call
export const T_SCRATCHLEN: u32 = 84; // scratch bytes

// ---- group header ----
export const G_N: u32 = 0; // tasks in the group
export const G_MASK: u32 = 4; // bit (1 << code) set = filter enabled
export const G_CPU: u32 = 8; // f64: reserved nano-CPUs per task
export const G_MEM: u32 = 16; // f64: reserved memory bytes per task
export const G_GENCOUNT: u32 = 24; // generic requests
export const G_GENKIND: u32 = 28; // u32[]: kind column per request
export const G_GENREQ: u32 = 32; // f64[]: count per request
export const G_PROGLEN: u32 = 36; // constraint program length (instructions of 4 u32)
export const G_PROG: u32 = 40; // constraint program
export const G_PLATCOUNT: u32 = 44; // platforms
export const G_PLAT: u32 = 48; // u32 pairs (normalized arch id, os id); 0xffffffff = any
export const G_PORTCOUNT: u32 = 52; // host ports
export const G_PORT: u32 = 56; // u32[]: protocol*65536 + port
export const G_MAXREP: u32 = 60; // max replicas per node, 0 = none
export const G_PREFCOUNT: u32 = 64; // spread levels
export const G_PREF: u32 = 68; // u32[]: address of the label column per level (0 = column absent: all "")
export const G_OUT: u32 = 72; // i32[n]: decisions (row per task, -1 = none)
export const G_COUNTERS: u32 = 76; // i32[9]: failure counter per filter code
export const G_PRENODES: u32 = 80; // i32[n]: rows of preassigned tasks
export const G_CODES: u32 = 84; // u8[cap]: first failing filter per row (evaluate)
export const G_BITMAP: u32 = 88; // u8[(cap+7)/8]: feasibility bitmap (evaluate)
export const G_SCORE: u32 = 92; // f64[cap]: score per row (strategies)

// ---- constraint program opcodes ----
export const OP_CONST: u32 = 1; // a = 1 pass / 0 fail
export const OP_COL: u32 = 2; // a = u32 column address, b = folded value id, c = 1 for !=
export const OP_IP: u32 = 3; // a = kind (0 bad, 1 equal, 4 IPv4 net, 6 IPv6 net), b = address of net[16] mask[16], c = 1 for !=

// ---- filter codes ----
export const F_PASS: i32 = 0;
export const F_READY: i32 = 1;
export const F_RESOURCES: i32 = 2;
export const F_CONSTRAINTS: i32 = 4;
export const F_PLATFORM: i32 = 5;
export const F_HOSTPORTS: i32 = 6;
export const F_MAXREP: i32 = 7;
