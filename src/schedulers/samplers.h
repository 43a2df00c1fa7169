// samplers.h: the constructor of each sampler, one per file; registry.cpp maps names to them.
#pragma once

#include <memory>

#include "schedulers/scheduler.h"

namespace sdref {

std::unique_ptr<Scheduler> make_ddim(const SchedulerConfig& c);
std::unique_ptr<Scheduler> make_pndm(const SchedulerConfig& c);
std::unique_ptr<Scheduler> make_lms(const SchedulerConfig& c);
std::unique_ptr<Scheduler> make_euler(const SchedulerConfig& c);
std::unique_ptr<Scheduler> make_euler_ancestral(const SchedulerConfig& c);
std::unique_ptr<Scheduler> make_heun(const SchedulerConfig& c);
std::unique_ptr<Scheduler> make_dpm2(const SchedulerConfig& c);
std::unique_ptr<Scheduler> make_dpm2_ancestral(const SchedulerConfig& c);
std::unique_ptr<Scheduler> make_dpm_solver_multistep(const SchedulerConfig& c);
std::unique_ptr<Scheduler> make_dpm_solver_singlestep(const SchedulerConfig& c);
std::unique_ptr<Scheduler> make_deis(const SchedulerConfig& c);
std::unique_ptr<Scheduler> make_unipc(const SchedulerConfig& c);
std::unique_ptr<Scheduler> make_lcm(const SchedulerConfig& c);

}  // namespace sdref
