/* A fixed RSA-2048 test key for the fuzz targets (generated for them, used
 * nowhere else): tokens in the JWT seed corpus are signed with it. */
#ifndef FUZZ_KEY_H
#define FUZZ_KEY_H
static const char FUZZ_KEY_PEM[] =
    "-----BEGIN PRIVATE KEY-----\n"
    "MIIEvAIBADANBgkqhkiG9w0BAQEFAASCBKYwggSiAgEAAoIBAQC/XLBHJor3tBgQ\n"
    "dt6OVlUYpRvIw9WA4WsgMGI4o82n0XM6gpz9zll6xZmG2mKFZfZz4q2lWGmdMvSR\n"
    "f3hGLh7JTPrky2uMmEyIXA45D38gHf7wDbAWLgaVjudKpExTLdnX2YfYLJpjWAox\n"
    "sNDSaZRrx3THKRZENOe9H8qu8in40dmHwXKhWMTFh+vgxF+8rWRrISaOWVVvpjMM\n"
    "/H3N2EttGnHTXgIP4Z1pmjYjhkM5srZsUXT6Tl5AjIsS9xVFSd0OQx4Y1wWf4nk4\n"
    "jQCOUkE896wJMpWZMCB6K2x/zgEFF2sPhFm6L/pYHlHeTGM3uPFt6SkbJqjRJtd5\n"
    "4MVMUDtXAgMBAAECggEAOKISS2RVQVyruIetcvuK4KnQkLigYa2U2ihnkTKtJQrg\n"
    "KsNH+fdNVP/Q4W+VM7yK1R4TXPlO/GZ9qefLLR3uH44oPHkVYb0a/UodLXbwHQ2z\n"
    "itDKOa4yZaWuvtDkA8Pwkih/QxNkN51xGuakznjPo5waa+y1eccchES548+oa0oP\n"
    "/ZnknfJg8Y4D4gzLCOpLXeKLA/eob96MyEgoAB3+6fT2PjRD3QZtns/dpIf1jAvP\n"
    "f4pVsFuyKjzOAElN5creXO9iSGtS0+bGm8IGa2iwQVOOUbkjqALpB74/Sppbcncx\n"
    "BMgiHbH41bDQnM/EYcUWuwd4JNH03O+QDfmZoBDyzQKBgQD1YnLZLXPF3idgfhn6\n"
    "7MkQ65mAh50rzFz7/GMQCJmAa7X+jqonQV7AaS2xuov45srUgb1tpqPCKYwyjwWB\n"
    "wuouQUEgsrB0dpAjdJMWgUILMMvU7l6JggD6EhlE00OvLaMVVrLo6plcpDqvZ9J1\n"
    "R0UukUeLPRBNAYgvrBZ2ze1jhQKBgQDHo/V/QvPx6QweSDnORNLTxrnkQKgApe68\n"
    "AArFXJPn6xgrxHzres5nzhwXEJikv+yezTuL6FjvNFYdrF/j9/4Z3CgqNkbVzl3K\n"
    "pEVHIXy8urQLdhfJKCF4AcaGTJUCmqiGDosQtjFC0Aph+JswLyrWSFNOGj8shvlJ\n"
    "PwWbrcu0KwKBgDXAfw/72OR7KX0FooNI4zKFqXZyPoedmLDKNJkKiTWMYq2Eatl2\n"
    "hF75qzzHdGnthHjQgsJGQpEBsOhSVA58t/ex66ZR/j1Ey4Y4vw+q+OCiq8PVA3hz\n"
    "tesRk99zt9vjz1mZSE+lNDsK7qAFyiBOoGT3BgkGM0/rCf4HYFRd/6ZRAoGAcRNs\n"
    "+afyhBJ7yqseErboswrcP2xfu/5AOjvL3f2RyMpf5mpkVvw37JPRVT8RNj9+xnN4\n"
    "RsZTmSkLncMEjRrp0bvhBAe6F1/Lv/tLQf61qDAXymYZEtaoHlDjIS4/ODphOY0D\n"
    "N3P6ct1jBBrLy37rxHMyvAohvha1G8eWZZcKygECgYAGmatYEHtynQck/Dq/ay3E\n"
    "zVHNtwITCWLafbjvP60qNLylY6IpAUuU5oRdjR8MOgPLektM8in6RdoisHeqLadZ\n"
    "pSV+B1mU0Ma8Spgd8jOZmWGdBMzyiJj9waW4F6fmtQhPC4vTuniiwzzUS2Zip1he\n"
    "5m4NYUE0giZeiw84VdBqyg==\n"
    "-----END PRIVATE KEY-----\n"
    ;
#endif
