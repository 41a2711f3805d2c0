// Which thread is the UI's, so the studio can prove that no frame waits on
// SQLite, plan validation or a launch: every model-layer function that does
// such work calls NoteWorkerCall(), which counts the calls made on the UI
// thread (the UI test prints the count and fails unless it is 0).
#pragma once

#include <cstdint>

namespace loom::studio {

void MarkUiThread();           // the calling thread is the UI's
void NoteWorkerCall();         // blocking work starts here: counted if on the UI thread
int64_t UiThreadBlockingCalls();

}  // namespace loom::studio
