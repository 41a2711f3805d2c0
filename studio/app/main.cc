// loom-studio: compose an omni model, give its blocks a parallel strategy,
// launch and watch runs. See `loom-studio --help` and docs/design/studio.md.
#include <cstdio>
#include <exception>

#include <CLI/CLI.hpp>

#include "studio/app/studio_app.h"

int main(int argc, char** argv) {
  loom::studio::AppOptions o;
  CLI::App cli{"Loom Studio: compose modality blocks, assign parallel strategies, launch and watch runs"};
  cli.add_option("--config", o.model_config, "A config.json (loom_omni or an LLM's) to open in the composer");
  cli.add_option("--open", o.open_yaml, "A train.yaml the composer saved (model, per-block strategy, run settings)");
  cli.add_option("--db", o.store, "The run store (run.db) to browse and launch into");
  cli.add_option("--data", o.data, "data.train for launches: a dataset built by `loom data build`");
  cli.add_option("--runs-dir", o.runs_dir, "run.dir for launches");
  cli.add_option("--world", o.world, "Ranks of a launch (the plan's world size)");
  cli.add_option("--compare", o.compare, "Run ids to draw on the charts");
  cli.add_option("--size", o.width, "Window width")->group("");
  cli.add_option("--height", o.height, "Window height")->group("");
  cli.add_option("--frames", o.frames, "Stop after N frames (headless runs)");
  cli.add_option("--screenshots", o.screenshots, "After --frames frames (default 30), write each panel as a PNG into this folder");
  cli.add_option("--export-dir", o.export_dir, "Where the charts' CSV and PNG exports go");
  cli.add_flag("--ui-test", o.ui_test, "Run the UI tests (the Dear ImGui Test Engine drives the panels) and exit");
  CLI11_PARSE(cli, argc, argv);
  if (!o.screenshots.empty() && o.frames == 0) o.frames = 30;
  try {
    loom::studio::StudioApp app(o);
    return app.Run();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "loom-studio: %s\n", e.what());
    return 1;
  }
}
