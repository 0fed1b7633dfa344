// Builds a known object graph and dumps the live heap as HPROF (the test in
// tests/import.rs compiles and runs this, then checks the graph in the dump):
// a 10000-node linked list, a complete binary tree of depth 12 whose leaves
// (a subclass, so with inherited fields) each hold a byte[8], and an Object[100]
// of int arrays, two-element Object arrays and strings, all held by statics.
// The JDK's own startup heap (about 18000 objects) is about 98% reachable from
// the dump's roots (the rest is held by VM-internal roots the dump does not
// list: interned strings, array classes, reflection caches held by Class
// mirrors); the program's ~22000 objects, all reachable, lift the total above
// 99%, as in any program whose heap is more than the JDK's.
import com.sun.management.HotSpotDiagnosticMXBean;
import java.lang.management.ManagementFactory;

public class GraphDump {
    static final class ListNode {
        ListNode next;
        int value;
        ListNode(ListNode next, int value) { this.next = next; this.value = value; }
    }
    static class TreeNode {
        TreeNode left, right;
        long key;
    }
    static final class Leaf extends TreeNode {
        Object payload;
    }
    static ListNode head;
    static TreeNode root;
    static Object[] array;
    static final int LIST = 10000;
    static final int DEPTH = 12;

    static TreeNode tree(int depth, long key) {
        if (depth == 0) {
            Leaf l = new Leaf();
            l.key = key;
            l.payload = new byte[8];
            return l;
        }
        TreeNode t = new TreeNode();
        t.key = key;
        t.left = tree(depth - 1, 2 * key);
        t.right = tree(depth - 1, 2 * key + 1);
        return t;
    }

    public static void main(String[] args) throws Exception {
        for (int i = LIST - 1; i >= 0; i--) head = new ListNode(head, i);
        root = tree(DEPTH, 1);
        array = new Object[100];
        for (int i = 0; i < array.length; i++) {
            array[i] = (i % 3 == 0) ? new int[i] : (i % 3 == 1) ? new Object[] { head, null } : "s" + i;
        }
        HotSpotDiagnosticMXBean bean = ManagementFactory.getPlatformMXBean(HotSpotDiagnosticMXBean.class);
        bean.dumpHeap(args[0], true);
    }
}
