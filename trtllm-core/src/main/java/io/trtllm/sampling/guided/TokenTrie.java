package io.trtllm.sampling.guided;

import java.util.Arrays;

/**
 * The byte strings of a vocabulary's tokens as a trie in preorder: node 0 is the root (the empty
 * string); node {@code n} adds byte {@code label[n]} at depth {@code depth[n]} to its parent, its
 * subtree ends before {@code skip[n]}, and the tokens whose bytes end there are
 * {@code tokenIds[tokenStart[n] .. tokenStart[n + 1])}. A mask is one pass over these arrays with the
 * automaton's configuration per depth: a dead configuration skips the whole subtree, so a state that
 * allows few tokens costs little. Immutable.
 */
final class TokenTrie {
    final byte[] label;
    final int[] depth;
    final int[] skip;
    final int[] tokenStart;
    final int[] tokenIds;
    final int maxDepth;

    private TokenTrie(byte[] label, int[] depth, int[] skip, int[] tokenStart, int[] tokenIds, int maxDepth) {
        this.label = label;
        this.depth = depth;
        this.skip = skip;
        this.tokenStart = tokenStart;
        this.tokenIds = tokenIds;
        this.maxDepth = maxDepth;
    }

    int nodes() {
        return label.length;
    }

    /**
     * The trie of {@code bytes[id]} for every id whose bytes are non-null and non-empty.
     */
    static TokenTrie build(byte[][] bytes) {
        Integer[] order = new Integer[bytes.length];
        int count = 0;
        for (int id = 0; id < bytes.length; id++) {
            if (bytes[id] != null && bytes[id].length > 0) {
                order[count++] = id;
            }
        }
        Integer[] ids = Arrays.copyOf(order, count);
        Arrays.sort(ids, (a, b) -> {
            int c = Arrays.compareUnsigned(bytes[a], bytes[b]);
            return c != 0 ? c : Integer.compare(a, b);
        });
        // Upper bound of nodes: total bytes + root.
        long total = 1;
        for (Integer id : ids) {
            total += bytes[id].length;
        }
        int cap = (int) Math.min(total, Integer.MAX_VALUE - 8);
        byte[] label = new byte[cap];
        int[] depth = new int[cap];
        int[] skip = new int[cap];
        int[] nodeOfToken = new int[count];
        int nodes = 1;
        int maxDepth = 0;
        // path[d] = node at depth d on the current path (path[0] = root).
        int[] path = new int[1];
        byte[] previous = new byte[0];
        for (int k = 0; k < count; k++) {
            byte[] b = bytes[ids[k]];
            int common = 0;
            int limit = Math.min(previous.length, b.length);
            while (common < limit && previous[common] == b[common]) {
                common++;
            }
            // Close the nodes of the previous path deeper than the common prefix.
            for (int d = previous.length; d > common; d--) {
                skip[path[d]] = nodes;
            }
            if (path.length < b.length + 1) {
                path = Arrays.copyOf(path, Math.max(b.length + 1, path.length * 2));
            }
            for (int d = common + 1; d <= b.length; d++) {
                label[nodes] = b[d - 1];
                depth[nodes] = d;
                path[d] = nodes++;
            }
            nodeOfToken[k] = path[b.length];
            maxDepth = Math.max(maxDepth, b.length);
            previous = b;
        }
        for (int d = previous.length; d >= 1; d--) {
            skip[path[d]] = nodes;
        }
        skip[0] = nodes;
        int[] tokenStart = new int[nodes + 1];
        for (int k = 0; k < count; k++) {
            tokenStart[nodeOfToken[k] + 1]++;
        }
        for (int n = 0; n < nodes; n++) {
            tokenStart[n + 1] += tokenStart[n];
        }
        int[] fill = Arrays.copyOf(tokenStart, nodes);
        int[] tokenIds = new int[count];
        for (int k = 0; k < count; k++) {
            tokenIds[fill[nodeOfToken[k]]++] = ids[k];
        }
        return new TokenTrie(Arrays.copyOf(label, nodes), Arrays.copyOf(depth, nodes), Arrays.copyOf(skip, nodes),
                tokenStart, tokenIds, maxDepth);
    }
}
