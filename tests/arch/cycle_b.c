/* call_graph_detects_a_pair: this file and cycle_a.c call each other. */
int cycle_a(int n);
int cycle_b(int n);

int cycle_b(int n)
{
    return n > 0 ? cycle_a(n - 1) : 1;
}
