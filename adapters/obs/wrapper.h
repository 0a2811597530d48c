#include <obs-module.h>
#include <obs-config.h>
#include <graphics/graphics.h>
#include <graphics/image-file.h>
#include <graphics/vec4.h>
#include <util/platform.h>
#include <util/text-lookup.h>
