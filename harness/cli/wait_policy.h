/* wait_policy: how kvbench's OpenMP threads wait between parallel regions when the user has not
 * said (OMP_WAIT_POLICY / GOMP_SPINCOUNT unset). */
#ifndef KVB_WAIT_POLICY_H
#define KVB_WAIT_POLICY_H

/* Sets the policy and re-executes this program once so that libgomp reads it (see wait_policy.c). */
void wait_policy_default(char **argv);

#endif
