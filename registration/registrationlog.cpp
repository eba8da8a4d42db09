#include "registrationlog.h"

Q_LOGGING_CATEGORY(lcRegistration, "uwpx.registration")
