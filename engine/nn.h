// All of nn in one include: Module, Sequential, the layers and the initializers.
#pragma once
#include "engine/nn/fusion.h"
#include "engine/nn/init.h"
#include "engine/nn/layers.h"
#include "engine/nn/module.h"
