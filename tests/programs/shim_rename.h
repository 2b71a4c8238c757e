/*
 * shim_rename.h — renames every function the shim interposes (preload/*.c) to cpt_<name>,
 * for the shim-under-TSan stress (tests/e2e/stress.sh, section 8). A TSan runtime owns
 * malloc and the pthread functions itself, so the shim cannot be preloaded in front of
 * it; instead the shim and the engine are compiled with -fsanitize=thread into the test
 * program with this header forced in (-include), and the program, compiled the same way,
 * calls cpt_malloc, cpt_pthread_mutex_lock, ... directly. The shim's lookups of the real
 * functions use dlsym(RTLD_NEXT, "malloc") (strings, which macros leave alone), so they
 * find TSan's interceptors, and TSan sees every real allocation and lock.
 */
#ifndef CP_SHIM_RENAME_H
#define CP_SHIM_RENAME_H
#define malloc cpt_malloc
#define free cpt_free
#define calloc cpt_calloc
#define realloc cpt_realloc
#define reallocarray cpt_reallocarray
#define posix_memalign cpt_posix_memalign
#define aligned_alloc cpt_aligned_alloc
#define memalign cpt_memalign
#define valloc cpt_valloc
#define pvalloc cpt_pvalloc
#define malloc_usable_size cpt_malloc_usable_size
#define cfree cpt_cfree
#define dlclose cpt_dlclose
#define execve cpt_execve
#define execveat cpt_execveat
#define fexecve cpt_fexecve
#define execv cpt_execv
#define execvp cpt_execvp
#define execvpe cpt_execvpe
#define execl cpt_execl
#define execlp cpt_execlp
#define execle cpt_execle
#define pthread_mutex_lock cpt_pthread_mutex_lock
#define pthread_mutex_trylock cpt_pthread_mutex_trylock
#define pthread_mutex_timedlock cpt_pthread_mutex_timedlock
#define pthread_mutex_unlock cpt_pthread_mutex_unlock
#define pthread_rwlock_rdlock cpt_pthread_rwlock_rdlock
#define pthread_rwlock_wrlock cpt_pthread_rwlock_wrlock
#define pthread_rwlock_timedrdlock cpt_pthread_rwlock_timedrdlock
#define pthread_rwlock_timedwrlock cpt_pthread_rwlock_timedwrlock
#define pthread_cond_wait cpt_pthread_cond_wait
#define pthread_cond_timedwait cpt_pthread_cond_timedwait
#define sem_wait cpt_sem_wait
#define sem_timedwait cpt_sem_timedwait
#define pthread_join cpt_pthread_join
#define pthread_barrier_wait cpt_pthread_barrier_wait
#endif
