// All of optim in one include: the optimizers and the learning-rate schedules.
#pragma once
#include "engine/optim/clip.h"
#include "engine/optim/optimizer.h"
#include "engine/optim/schedule.h"
