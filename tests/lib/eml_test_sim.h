/*
 * The default simulator's measurements, computed from their documented rule
 * (SHA-384 of "EphemeralML simulator PCR<n>"), not read from the simulator,
 * so a test that pins them would notice the simulator changing.
 */
#ifndef EML_TEST_SIM_H
#define EML_TEST_SIM_H

/* PCR n (0..2) as 96 lowercase hex digits and a NUL. */
void eml_test_sim_pcr_hex(int n, char out[97]);

#endif
