// All ops of the engine, in one include.
#pragma once
#include "engine/autograd.h"
#include "engine/ops/elementwise.h"
#include "engine/ops/linalg.h"
#include "engine/ops/reduce.h"
#include "engine/tensor.h"
#include "engine/util/rng.h"
