/* call_graph_detects_a_pair: this file and cycle_b.c call each other. */
int cycle_b(int n);
int cycle_a(int n);

int cycle_a(int n)
{
    return n > 0 ? cycle_b(n - 1) : 0;
}
