/** Majority-quorum arithmetic for a single voter set (no joint consensus: changes go one member at a time). */

/** Smallest number of voters that forms a majority of `voters` members. */
export function quorumSize(voters: number): number {
  return Math.floor(voters / 2) + 1;
}

/**
 * Highest index replicated on a majority, given each voter's match index; 0 for no voters.
 */
export function committedIndex(matches: number[]): number {
  if (matches.length === 0) return 0;
  const sorted = [...matches].sort((a, b) => b - a);
  return sorted[quorumSize(matches.length) - 1]!;
}

/** Outcome of an election so far. */
export type VoteResult = 'won' | 'lost' | 'pending';

/** Tallies `votes` (granted or rejected, by voter id) over the voter set `voters`. */
export function voteResult(voters: Iterable<string>, votes: ReadonlyMap<string, boolean>): VoteResult {
  let granted = 0;
  let rejected = 0;
  let n = 0;
  for (const v of voters) {
    n++;
    const r = votes.get(v);
    if (r === true) granted++;
    else if (r === false) rejected++;
  }
  const q = quorumSize(n);
  if (granted >= q) return 'won';
  if (rejected > n - q) return 'lost';
  return 'pending';
}
